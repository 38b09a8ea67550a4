import sys

from bench import sync_bench

if __name__ == "__main__":
    sync_bench.main(sys.argv[1:])
