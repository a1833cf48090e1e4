from snapagent.cli import main

main()
