import sys

from bench import sync_bench

if __name__ == "__main__":
    if sys.argv[1:2] == ["region"]:
        from bench import region

        region.main(sys.argv[2:])
    elif sys.argv[1:2] == ["skips"]:
        from bench import skip_check

        sys.exit(skip_check.main(sys.argv[2:]))
    else:
        sync_bench.main(sys.argv[1:])
