"""Live watch (Convention on Cybercrime Art. 33, real-time collection of traffic data).

A requester node sends a standing order over the exchange; an authorised provider node
registers it, matches arriving traffic data (syslog over UDP/TCP, IPFIX/NetFlow over UDP,
files) against it while it is in force, and reports every hit back over the exchange, each
hit stored and audited. Modules: ``domain`` (orders, validation), ``matcher`` (bulk matching),
``service`` (database, exchange handlers), ``runtime`` (threads, reporting), ``listeners``
(sockets and framing), ``web`` (the page).

The exchange handlers (``service.handle_order``, ``handle_cancel``, ``handle_hit``) are declared
in ``trailguard/traffic/capability.py`` and registered by the app.
"""
