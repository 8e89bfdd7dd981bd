from smppd.cli import main

main()
