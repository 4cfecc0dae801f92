"""The party portal: who may sign in and how (``tokens``: API tokens; ``sessions``: signed-in sessions;
``accounts``: staff invited by a party; ``siwe``: Sign-In with Ethereum), how a request becomes a
:class:`settle.auth.principal.Principal` (``authn``), and the audit log of every sign-in and change (``audit``)."""
