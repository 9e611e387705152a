/*  czmq_cert: CZMQ's side of the certificate interoperability tests
 *  (tests/interop_czmq.rs). Built by the test with `cc czmq_cert.c -lczmq -lzmq`.
 *
 *  czmq_cert save PATH [NAME=VALUE ...]
 *      zcert_new + zcert_set_meta + zcert_save(PATH): writes PATH (public) and
 *      PATH_secret (secret), then prints the certificate as below.
 *  czmq_cert load PATH
 *      zcert_load(PATH) (which reads PATH_secret when it exists, else PATH) and prints
 *      the certificate as below.
 *  czmq_cert store DIR KEY...
 *      zcertstore_new(DIR) (every file in DIR not ending in `_secret`), then one line
 *      `found<TAB>KEY<TAB>0|1` per Z85 public KEY.
 *
 *  A certificate prints as tab-separated lines, metadata in any order:
 *      public<TAB>Z85
 *      secret<TAB>Z85            (40 zeros when there is no secret key)
 *      meta<TAB>NAME<TAB>VALUE
 *  Exit status 0 on success, 1 on a usage error, 2 when CZMQ fails.
 */
#include <czmq.h>
#include <stdio.h>
#include <string.h>

static void print_cert (zcert_t *cert)
{
    printf ("public\t%s\n", zcert_public_txt (cert));
    printf ("secret\t%s\n", zcert_secret_txt (cert));
    zlist_t *keys = zcert_meta_keys (cert);
    if (keys) {
        const char *name = (const char *) zlist_first (keys);
        while (name) {
            const char *value = zcert_meta (cert, name);
            printf ("meta\t%s\t%s\n", name, value ? value : "");
            name = (const char *) zlist_next (keys);
        }
        zlist_destroy (&keys);
    }
}

static int cmd_save (int argc, char **argv)
{
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "czmq_cert: zcert_new failed\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char *eq = strchr (argv [i], '=');
        if (!eq) {
            fprintf (stderr, "czmq_cert: metadata must be NAME=VALUE\n");
            zcert_destroy (&cert);
            return 1;
        }
        *eq = '\0';
        zcert_set_meta (cert, argv [i], "%s", eq + 1);
    }
    int rc = zcert_save (cert, argv [0]);
    if (rc != 0) {
        fprintf (stderr, "czmq_cert: zcert_save(%s) failed\n", argv [0]);
        zcert_destroy (&cert);
        return 2;
    }
    print_cert (cert);
    zcert_destroy (&cert);
    return 0;
}

static int cmd_load (const char *path)
{
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        fprintf (stderr, "czmq_cert: zcert_load(%s) failed\n", path);
        return 2;
    }
    print_cert (cert);
    zcert_destroy (&cert);
    return 0;
}

static int cmd_store (int argc, char **argv)
{
    zcertstore_t *store = zcertstore_new (argv [0]);
    if (!store) {
        fprintf (stderr, "czmq_cert: zcertstore_new(%s) failed\n", argv [0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        printf ("found\t%s\t%d\n", argv [i], zcertstore_lookup (store, argv [i]) != NULL);
    zcertstore_destroy (&store);
    return 0;
}

int main (int argc, char **argv)
{
    if (argc >= 3 && streq (argv [1], "save"))
        return cmd_save (argc - 2, argv + 2);
    if (argc == 3 && streq (argv [1], "load"))
        return cmd_load (argv [2]);
    if (argc >= 3 && streq (argv [1], "store"))
        return cmd_store (argc - 2, argv + 2);
    fprintf (stderr,
             "usage: czmq_cert save PATH [NAME=VALUE ...]\n"
             "       czmq_cert load PATH\n"
             "       czmq_cert store DIR KEY...\n");
    return 1;
}
