"""The fixture cache on disk: content-hashed keys, the diskcache store, one run's session,
serializers and the ``@cached_fixture`` decorator.
"""
