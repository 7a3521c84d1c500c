"""The application: the ``numcnn`` command and the run directories it writes.

The library never imports this package; it imports the library.
"""
