/* The stand-in of palanteer's instrumentation header. */
