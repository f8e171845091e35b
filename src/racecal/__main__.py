from racecal.cli import main

main()
