"""``python -m tests.toy_cli ARGUMENTS``: ``el-zoo ARGUMENTS`` with the toy family
(``tests/toy.py``) registered, for tests that need a fresh process (a kill, several
workers) but not a zoo family: ``python -m tests.toy_cli train toy_net_el --recipe cifar10
...``. A family registered inside a test is not seen by a process the test starts."""

import sys

from el_zoo.cli import main
from tests.toy import registered

if __name__ == "__main__":
    with registered():
        status = main(sys.argv[1:])
    sys.exit(status)
