"""Developer-only ZipBob tooling, never installed in a production image.

- ``embedded``: moto S3, fakeredis and nx-27017 as real servers on loopback sockets
- ``launcher`` / ``local_state``: ``make run`` (the local and dev profiles)
- ``testing``: the pytest plugin every suite loads (root ``conftest.py``)
- ``faults``: ``TcpProxy``, a proxy tests can cut, blackhole and restore
"""
