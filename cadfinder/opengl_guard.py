"""What must happen before cadfinder makes its first OpenGL context (VTK, off-screen or in the app).

Loading triton's native library after an OpenGL context exists crashes the process: Mesa's
llvmpipe and triton each bring their own LLVM, and the second one loaded resolves symbols to the
first (measured with torch 2.14, triton 3.8, vtk 9.6: a segfault inside `import triton.compiler`;
triton loaded first, then rendering, works). torch._dynamo imports triton lazily when a model is
built (open_clip, through torchvision), which can be after a render. cadfinder never uses
torch.compile, so a process that renders tells torch that triton is absent, unless triton is
already loaded, which is safe.
"""

from __future__ import annotations

import sys


def before_first_context() -> None:
    """Keep triton from loading later in this process (does nothing if it is already loaded)."""
    sys.modules.setdefault("triton", None)
