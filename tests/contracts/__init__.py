"""Contract suites for the service's ports, written once and run against every adapter.

Each module holds a class of tests (``EventLogContract``, ``RunQueueContract``) that an
adapter's test module subclasses as ``Test<Adapter>``, providing the fixture the class names.
"""
