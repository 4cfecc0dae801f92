# ``python -m settle``: the command line lives in the composition root (settle_cli), which mounts the oracle's and
# the gateway's commands too. This delegation is the shared package's one edge towards it.
from settle_cli import main

main()
