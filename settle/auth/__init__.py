"""Who calls, and what they may do: one token and principal model for the gateway API, the oracle API and the
dashboard.

- :mod:`settle.auth.principal`: the caller (anonymous, a party, a party's staff, a machine token, the operator, an
  auditor) and the checks every route asks of it;
- :mod:`settle.auth.tokens`: API and session tokens (random, shown once, stored as SHA-256), their scopes;
- :mod:`settle.auth.siwe`: Sign-In with Ethereum (EIP-4361) messages, checked for an EOA or an ERC-1271 wallet;
- :mod:`settle.auth.passwords`: staff passwords (argon2id) and TOTP codes.

Storage is the service's own (the gateway's ``gw_auth_*`` tables and its sign-in rate limits,
``gateway.portal.ratelimits``; the oracle's ``oracle_api_keys``): this package holds no database code.
"""
