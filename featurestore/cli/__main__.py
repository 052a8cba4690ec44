from featurestore.cli.app import main

main()
