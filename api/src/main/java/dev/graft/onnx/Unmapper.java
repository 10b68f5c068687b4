package dev.graft.onnx;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;

/**
 * Releases a file mapping at once instead of when the garbage collector finds it, so that the mapped pages
 * stop counting as the process's memory: Java 17 has no public unmap, so this calls
 * {@code sun.misc.Unsafe.invokeCleaner} (module {@code jdk.unsupported}, open to reflection) when it exists.
 * Only for mappings that nothing else can still reach: touching an unmapped buffer crashes the JVM.
 */
final class Unmapper {
    private static final MethodHandle INVOKE_CLEANER = find();

    private Unmapper() {
    }

    /** Whether mappings can be released early; when not, callers should read without mapping. */
    static boolean available() {
        return INVOKE_CLEANER != null;
    }

    /** Unmaps {@code mapping}, a direct buffer from {@code FileChannel.map} that no one else holds. */
    static void unmap(ByteBuffer mapping) {
        try {
            INVOKE_CLEANER.invokeExact(mapping);
        } catch (Throwable e) {
            throw new IllegalStateException("cannot unmap a file mapping", e);
        }
    }

    private static MethodHandle find() {
        try {
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            Field field = unsafeClass.getDeclaredField("theUnsafe");
            field.setAccessible(true);
            Object unsafe = field.get(null);
            MethodHandle h = MethodHandles.lookup().findVirtual(unsafeClass, "invokeCleaner",
                    MethodType.methodType(void.class, ByteBuffer.class));
            return h.bindTo(unsafe);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
