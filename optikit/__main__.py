from optikit.cli import main

main()
