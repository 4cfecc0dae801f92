"""The shared package's command groups (``chain``, ``build``, ``agreement``, ``status``, ``agreements``) and the one
error boundary every command runs in (:mod:`settle.cli.boundary`).

The ``settle`` entry point that mounts these next to the oracle's and the gateway's groups is the composition root,
:mod:`settle_cli`: this package never imports ``oracle`` or ``gateway``.
"""
