"""Entry point of the bundled application (PyInstaller): the `cadfinder` command line, which
opens the app when started without arguments."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # ingestion's worker processes re-enter here
    from cadfinder.cli import main

    sys.exit(main())
