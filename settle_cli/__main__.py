from settle_cli import main

main()
