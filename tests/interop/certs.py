"""pyzmq's side of the certificate tests in tests/interop_pyzmq.rs.

Run with the virtualenv's Python (scripts/setup-pyzmq-venv.sh). Output is
tab-separated `tag<TAB>value` lines; keys are Z85 text.

    certs.py version                        pyzmq, libzmq (bundled), curve
    certs.py create DIR NAME [KEY=VALUE...] zmq.auth.create_certificates with metadata,
                                            then the pair as load_certificate reads it:
                                            public_file, secret_file, public, secret
    certs.py load PATH                      zmq.auth.load_certificate: public, secret
                                            (an empty secret when the file has none)
    certs.py load_dir DIR                   zmq.auth.load_certificates: one `key` line
                                            per public key, sorted
    certs.py curve_public SECRET            zmq.curve_public: public
"""

import sys

import zmq
import zmq.auth


def text(key):
    return "" if key is None else key.decode("ascii")


def main(argv):
    if argv[:1] == ["version"] and len(argv) == 1:
        print(f"pyzmq\t{zmq.__version__}")
        print(f"libzmq\t{zmq.zmq_version()}")
        print(f"curve\t{bool(zmq.has('curve'))}")
    elif argv[:1] == ["create"] and len(argv) >= 3:
        metadata = dict(arg.split("=", 1) for arg in argv[3:])
        public_file, secret_file = zmq.auth.create_certificates(
            argv[1], argv[2], metadata=metadata
        )
        public, secret = zmq.auth.load_certificate(secret_file)
        print(f"public_file\t{public_file}")
        print(f"secret_file\t{secret_file}")
        print(f"public\t{text(public)}")
        print(f"secret\t{text(secret)}")
    elif argv[:1] == ["load"] and len(argv) == 2:
        public, secret = zmq.auth.load_certificate(argv[1])
        print(f"public\t{text(public)}")
        print(f"secret\t{text(secret)}")
    elif argv[:1] == ["load_dir"] and len(argv) == 2:
        for key in sorted(zmq.auth.load_certificates(argv[1])):
            print(f"key\t{text(key)}")
    elif argv[:1] == ["curve_public"] and len(argv) == 2:
        print(f"public\t{text(zmq.curve_public(argv[1].encode('ascii')))}")
    else:
        print(__doc__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
