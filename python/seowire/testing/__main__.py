import sys

from . import _serve

if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
