"""cadfinder: shape search for mechanical CAD parts."""

import sys as _sys

__version__ = "0.2.0"

# torchvision (imported by open_clip) makes torch._dynamo import triton; loading triton's native
# library after VTK's segfaults (conflicting LLVM symbols, measured with torch 2.14 / vtk 9.6).
# cadfinder never uses torch.compile, so torch is told triton is absent.
_sys.modules.setdefault("triton", None)
