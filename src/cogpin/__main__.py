from cogpin.cli import main

main()
