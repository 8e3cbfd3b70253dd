"""The exchanges as tasks (the shape of strongSwan's ``sa/ikev2/tasks``): each module
owns one job and its steps, named for who runs them: ``build_i`` (the initiator
builds the request), ``process_r`` (the responder processes it and builds the
response), ``process_i`` (the initiator processes the response), plus the timers
the task owns. The engine (``ikev2/engine.py``) routes messages and timers here;
tasks reach it only through :class:`~pluto_core.ikev2.tasks.services.Services`
and never import it.

| module | exchange (RFC 7296) |
|---|---|
| ``ike_init`` | IKE_SA_INIT (1.2, 2.6 cookies, INVALID_KE_PAYLOAD 1.2) |
| ``ike_auth`` | IKE_AUTH (1.2, 2.15; INITIAL_CONTACT 2.4) |
| ``child_create`` | the Child SA of IKE_AUTH (1.3, 2.9, 2.17) and its install |
| ``rekey`` | CREATE_CHILD_SA (1.3): the checks every request and response passes, then one of: |
| ``child_rekey`` | a Child SA rekey (1.3.3, PFS 1.3.1) or a new Child SA the peer asks for; collisions (2.8.1) |
| ``ike_rekey`` | an IKE SA rekey (1.3.2, SKEYSEED 2.18); collisions (2.8.1) |
| ``delete`` | INFORMATIONAL Delete (1.4.1), removing SAs, expiry |
| ``liveness`` | INFORMATIONAL liveness (1.4, 2.4), NAT-T keepalives (RFC 3948 2.3) |
| ``lifetimes`` | the rekey and expiry timers (2.8) |
| ``common`` | helpers the tasks share |
"""
