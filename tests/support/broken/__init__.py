"""Apps whose modules fail to import, for the tests of --app's errors (on sys.path by the tests)."""
