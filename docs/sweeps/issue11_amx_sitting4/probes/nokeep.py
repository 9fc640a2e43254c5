import runpy, sys, nmt.device
nmt.device.keep_freed_memory = lambda *a, **k: True
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
