"""The pure core: bytes and ``now`` in, documents and bulk bodies out. No sockets, no clock, no environment,
no asyncio (tests/core/test_purity.py fails the build otherwise).

The data path through it, in order:

- ``framing``: a TCP stream into GELF frames, an HTTP body into messages;
- ``chunks``: chunked GELF datagrams reassembled into whole messages;
- ``decompress``: gzip, zlib or plain, by magic bytes, within a bound;
- ``gelf`` and ``logspout`` (with ``fields``, what they share): a message decoded into a document;
- ``ecs``: the document in the Elastic Common Schema, with ``--schema ecs``;
- ``sequence``: each event's ``sequence`` number;
- ``bulk``: events encoded as ``_bulk`` items, and Elasticsearch's answer read item by item;
- ``batch``: items cut into bulk requests by count, bytes and age;
- ``ingest``: all of the above joined, for the daemon to call.

Beside it: ``errors`` (the GelfError family, with the reasons counted), ``rejects`` (counting rejections and
saying so without flooding the log), ``template`` (the index template), ``routing`` (which worker and
instance owns a chunked message) and ``forward_frames`` (the frames chunks travel in to their owner).
"""
