"""Collection set-up for the whole repository (tests/ and the doctests of src/psinet).

``src/psinet/estimators.py`` needs scikit-learn at import time, so its doctests can only
be collected where the ``sklearn`` extra is installed; elsewhere the module is left out
(the tests of tests/test_estimators.py skip with a message naming the extra instead of
the whole run failing at collection).
"""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("sklearn") is None:
    collect_ignore.append("src/psinet/estimators.py")
