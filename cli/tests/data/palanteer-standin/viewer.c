/* Uses one symbol of each library palanteer's viewer links, so none is dropped by --as-needed. */
#include <GL/gl.h>
#include <X11/Xlib.h>
#include <X11/extensions/Xrender.h>
#include <elfutils/libdwfl.h>
/* As palanteer.h: the local-only unwinder, which libunwind.so itself provides. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdio.h>

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1000) {
        Display *d = XOpenDisplay(NULL);
        int event, error;
        unw_context_t context;
        unw_cursor_t cursor;
        XRenderQueryExtension(d, &event, &error);
        glGetString(GL_VERSION);
        unw_getcontext(&context);
        unw_init_local(&cursor, &context);
        dwfl_begin(NULL);
    }
    puts("palanteer stand-in");
    return 0;
}
