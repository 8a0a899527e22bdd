"""The fault soak: random faults under traffic both ways, and how the session comes back.

Run it with `python -m bench.soak` (see bench/README.md, "Fault soak"). Modules:
`rig` brings up Home Assistant, the virtual BC26 and the platform; `traffic` moves
numbered payloads both ways and keeps the ledgers; `stored` changes the reported
entity (store and forward, beside the queued sends); `faults` injects one fault at a
time; `run` times the recoveries; `report` turns it all into tables.
"""
