/*  CZMQ's zauth under the same ZAP load as benches/auth (issue #8).

    Build:  cc -O2 -o czmq_zauth czmq_zauth.c -lczmq -lzmq
    Usage:  czmq_zauth MODE CERT_DIR REQUESTS WARMUP INFLIGHT
    MODE:   bare   a ROUTER answering every request 200 (libzmq only, the C floor)
            null   zauth, NULL requests
            plain  zauth, PLAIN with 1,000 users (zauth reads them from a file)
            curve  zauth, CURVE with the certificate directory CERT_DIR
            load   zcertstore_new (CERT_DIR), the time to load the directory
    Prints one line "MODE VALUE UNIT". Each measurement stops after REQUESTS replies or
    10 seconds after the warm-up, whichever comes first (zauth's CURVE lookup rescans
    the whole certificate directory on every request, so it needs the time limit).
    One measurement per process: zauth lives in CZMQ's global context, so each run
    gets a fresh one.

    The load generator is a DEALER connected to inproc://zeromq.zap.01 in the handler's
    context, sending [ "", "1.0", "1", "global", "127.0.0.1", "", MECHANISM, creds... ]
    with INFLIGHT requests outstanding, exactly like the Rust benchmark.
*/

#include <czmq.h>
#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define ZAP "inproc://zeromq.zap.01"
#define USERS 1000
#define TIME_LIMIT 10.0

static double now (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct {
    const char *mechanism;
    int n;                  /* credential sets */
    int frames;             /* credential frames per request */
    unsigned char (*keys)[32];
    char (*user)[16];
    char (*pass)[32];
} workload_t;

static void send_request (void *d, const workload_t *w, long i)
{
    zmq_send (d, "", 0, ZMQ_SNDMORE);
    zmq_send (d, "1.0", 3, ZMQ_SNDMORE);
    zmq_send (d, "1", 1, ZMQ_SNDMORE);
    zmq_send (d, "global", 6, ZMQ_SNDMORE);
    zmq_send (d, "127.0.0.1", 9, ZMQ_SNDMORE);
    zmq_send (d, "", 0, ZMQ_SNDMORE);
    if (w->frames == 0) {
        zmq_send (d, w->mechanism, strlen (w->mechanism), 0);
        return;
    }
    zmq_send (d, w->mechanism, strlen (w->mechanism), ZMQ_SNDMORE);
    int k = (int) (i % w->n);
    if (w->keys)
        zmq_send (d, w->keys [k], 32, 0);
    else {
        zmq_send (d, w->user [k], strlen (w->user [k]), ZMQ_SNDMORE);
        zmq_send (d, w->pass [k], strlen (w->pass [k]), 0);
    }
}

/*  Receives one reply; returns its status code (0 when malformed).  */
static int recv_reply (void *d)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int idx = 0, status = 0;
    while (1) {
        if (zmq_msg_recv (&msg, d, 0) < 0) {
            zmq_msg_close (&msg);
            return -1;
        }
        if (idx == 3 && zmq_msg_size (&msg) == 3) {
            const char *s = (const char *) zmq_msg_data (&msg);
            status = (s [0] - '0') * 100 + (s [1] - '0') * 10 + (s [2] - '0');
        }
        idx++;
        if (!zmq_msg_more (&msg))
            break;
    }
    zmq_msg_close (&msg);
    return idx == 7 ? status : 0;
}

static double drive (void *d, const workload_t *w, long warmup, long n, int inflight)
{
    long total = warmup + n, next = 0, received = 0;
    double start = now ();
    while (next < inflight && next < total)
        send_request (d, w, next++);
    while (received < total) {
        int status = recv_reply (d);
        if (status != 200) {
            fprintf (stderr, "reply %ld: status %d, expected 200\n", received, status);
            exit (1);
        }
        received++;
        if (received == warmup)
            start = now ();
        if (received > warmup && now () - start > TIME_LIMIT)
            break;
        if (next < total)
            send_request (d, w, next++);
    }
    return (received - warmup) / (now () - start);
}

/*  The floor: a ROUTER that answers 200 with no policy at all.  */
static void *bare_responder (void *router)
{
    zmq_msg_t frames [16];
    while (1) {
        int n = 0;
        while (1) {
            zmq_msg_init (&frames [n]);
            if (zmq_msg_recv (&frames [n], router, 0) < 0)
                return NULL;
            int more = zmq_msg_more (&frames [n]);
            if (n < 15)
                n++;
            else
                zmq_msg_close (&frames [n]);
            if (!more)
                break;
        }
        if (n == 3 && zmq_msg_size (&frames [2]) == 4
        &&  memcmp (zmq_msg_data (&frames [2]), "STOP", 4) == 0) {
            for (int i = 0; i < n; i++)
                zmq_msg_close (&frames [i]);
            return NULL;
        }
        zmq_msg_send (&frames [0], router, ZMQ_SNDMORE);
        zmq_send (router, "", 0, ZMQ_SNDMORE);
        zmq_send (router, "1.0", 3, ZMQ_SNDMORE);
        zmq_msg_send (&frames [3], router, ZMQ_SNDMORE);
        zmq_send (router, "200", 3, ZMQ_SNDMORE);
        zmq_send (router, "OK", 2, ZMQ_SNDMORE);
        zmq_send (router, "anonymous", 9, ZMQ_SNDMORE);
        zmq_send (router, "", 0, 0);
        for (int i = 0; i < n; i++)
            if (i != 0 && i != 3)
                zmq_msg_close (&frames [i]);
    }
}

static int load_keys (const char *dir, unsigned char (**keys)[32])
{
    DIR *dh = opendir (dir);
    if (!dh) {
        perror (dir);
        exit (1);
    }
    int cap = 1024, n = 0;
    *keys = malloc (cap * 32);
    struct dirent *e;
    while ((e = readdir (dh))) {
        size_t len = strlen (e->d_name);
        if (len < 5 || strcmp (e->d_name + len - 4, ".key") != 0)
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        zcert_t *cert = zcert_load (path);
        if (!cert)
            continue;
        if (n == cap)
            *keys = realloc (*keys, (cap *= 2) * 32);
        memcpy ((*keys) [n++], zcert_public_key (cert), 32);
        zcert_destroy (&cert);
    }
    closedir (dh);
    return n;
}

int main (int argc, char *argv [])
{
    if (argc != 6) {
        fprintf (stderr, "usage: %s bare|null|plain|curve|load CERT_DIR REQUESTS WARMUP INFLIGHT\n", argv [0]);
        return 2;
    }
    const char *mode = argv [1], *dir = argv [2];
    long requests = atol (argv [3]), warmup = atol (argv [4]);
    int inflight = atoi (argv [5]);
    workload_t w = { "NULL", 1, 0, NULL, NULL, NULL };

    if (streq (mode, "load")) {
        double best [9];
        int reps = 5;
        for (int i = 0; i < reps; i++) {
            double t = now ();
            zcertstore_t *store = zcertstore_new (dir);
            best [i] = now () - t;
            zcertstore_destroy (&store);
        }
        /* median */
        for (int i = 0; i < reps; i++)
            for (int j = i + 1; j < reps; j++)
                if (best [j] < best [i]) { double x = best [i]; best [i] = best [j]; best [j] = x; }
        printf ("load %.3f ms\n", best [reps / 2] * 1e3);
        return 0;
    }
    if (streq (mode, "bare")) {
        void *ctx = zmq_ctx_new ();
        void *router = zmq_socket (ctx, ZMQ_ROUTER);
        int zero = 0;
        zmq_setsockopt (router, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind (router, ZAP) != 0) {
            perror ("bind");
            return 1;
        }
        pthread_t thread;
        pthread_create (&thread, NULL, bare_responder, router);
        void *d = zmq_socket (ctx, ZMQ_DEALER);
        zmq_setsockopt (d, ZMQ_LINGER, &zero, sizeof zero);
        zmq_connect (d, ZAP);
        double rate = drive (d, &w, warmup, requests, inflight);
        zmq_send (d, "", 0, ZMQ_SNDMORE);
        zmq_send (d, "STOP", 4, 0);
        pthread_join (thread, NULL);
        zmq_close (router);
        zmq_close (d);
        zmq_ctx_term (ctx);
        printf ("bare %.0f /s\n", rate);
        return 0;
    }

    zactor_t *auth = zactor_new (zauth, NULL);
    char passfile [] = "/tmp/czmq-zauth-passwords-XXXXXX";
    if (streq (mode, "plain")) {
        int fd = mkstemp (passfile);
        FILE *f = fdopen (fd, "w");
        w.mechanism = "PLAIN";
        w.n = USERS;
        w.frames = 2;
        w.user = malloc (USERS * sizeof *w.user);
        w.pass = malloc (USERS * sizeof *w.pass);
        for (int i = 0; i < USERS; i++) {
            snprintf (w.user [i], sizeof w.user [i], "user%04d", i);
            snprintf (w.pass [i], sizeof w.pass [i], "password-%04d", i);
            fprintf (f, "%s=%s\n", w.user [i], w.pass [i]);
        }
        fclose (f);
        zstr_sendx (auth, "PLAIN", passfile, NULL);
        zsock_wait (auth);
    }
    else
    if (streq (mode, "curve")) {
        w.mechanism = "CURVE";
        w.frames = 1;
        w.n = load_keys (dir, &w.keys);
        zstr_sendx (auth, "CURVE", dir, NULL);
        zsock_wait (auth);
    }
    else
    if (!streq (mode, "null")) {
        fprintf (stderr, "unknown mode %s\n", mode);
        return 2;
    }
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, ZAP);
    double rate = drive (zsock_resolve (dealer), &w, warmup, requests, inflight);
    zsock_destroy (&dealer);
    zactor_destroy (&auth);
    if (streq (mode, "plain"))
        unlink (passfile);
    printf ("%s %.0f /s\n", mode, rate);
    return 0;
}
