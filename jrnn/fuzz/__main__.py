from jrnn.fuzz.cli import main

main()
