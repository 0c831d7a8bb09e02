import sys

from . import _serve

sys.exit(_serve(sys.argv[1:]))
