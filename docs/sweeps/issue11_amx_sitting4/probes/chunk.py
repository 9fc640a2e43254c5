import runpy, sys, nmt.train.losses as L
L.backward_in_chunks.__defaults__ = (int(sys.argv.pop(1)),)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
