import sys

from bench import sync_bench

if __name__ == "__main__":
    if sys.argv[1:2] == ["region"]:
        from bench import region

        region.main(sys.argv[2:])
    else:
        sync_bench.main(sys.argv[1:])
