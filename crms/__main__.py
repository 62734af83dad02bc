from crms.cli.main import main

main()
