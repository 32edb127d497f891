"""trailguard: cooperation on cybercrime investigations in minutes instead of months.

Every participant (a national 24/7 point of contact, a central authority, an agency or a
service provider) runs a node of this package. The capability folders are the map:

- ``network``  identities, the directory of contacts, the signed exchange between nodes
- ``requests`` preservation, disclosure, emergency, subscriber, EPOC/EPOC-PR and MLA requests
- ``law``      instruments, parties, offences, dual criminality and channels, cited and dated
- ``traffic``  the provider's store of traffic data: ingest, retain, hold, look up
- ``accounts`` people, roles, sessions and second factors
- ``audit``    the append-only, hash-chained record of every change
"""

__version__ = "0.1.0"
