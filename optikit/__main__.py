from optikit.cli.app import main

main()
