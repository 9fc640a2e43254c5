import runpy, sys, ctypes, nmt.train.update as U
libc = ctypes.CDLL("libc.so.6")
orig = U.Update.__call__
def call(self, b, step):
    r = orig(self, b, step); libc.malloc_trim(0); return r
U.Update.__call__ = call
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
