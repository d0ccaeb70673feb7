"""Root of the test tree; being a conftest, its folder is on sys.path, so shared test helpers
such as `proctools` import by name from every test folder."""
