package dev.graft.data;

import dev.graft.GraftIoException;
import dev.graft.GraftException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A NumPy {@code .npy} array (format versions 1 to 3): C order, little-endian {@code float32}, {@code float64}
 * (read as float32), {@code int64} or {@code int32} (read as int64). The header is checked against the file's
 * size; anything else is a {@link GraftException} naming the file and what was expected.
 */
public record NpyArray(long[] shape, float[] floats, long[] longs) {
    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']*)'");
    private static final Pattern ORDER = Pattern.compile("'fortran_order':\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    /** Number of values. */
    public long count() {
        return Arrays.stream(shape).reduce(1, Math::multiplyExact);
    }

    /**
     * Writes float32 {@code values} of {@code shape} as a version 1.0 {@code .npy} file (C order, little-endian), as
     * {@code numpy.save} would.
     *
     * @throws GraftIoException if the file cannot be written
     */
    public static void writeFloats(Path file, float[] values, long... shape) {
        StringBuilder dims = new StringBuilder();
        for (long d : shape) {
            dims.append(d).append(", ");
        }
        String tuple = shape.length == 1 ? dims.toString().trim() : dims.toString().replaceAll(", $", "");
        StringBuilder header = new StringBuilder("{'descr': '<f4', 'fortran_order': False, 'shape': (" + tuple + "), }");
        while ((10 + header.length() + 1) % 64 != 0) {
            header.append(' ');
        }
        header.append('\n');
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + 4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                .putShort((short) header.length()).put(header.toString().getBytes(StandardCharsets.US_ASCII));
        for (float v : values) {
            b.putFloat(v);
        }
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    public static NpyArray read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new GraftIoException(file, "read", e);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 10 || (bytes[0] & 0xff) != 0x93 || !new String(bytes, 1, 5, StandardCharsets.US_ASCII)
                .equals("NUMPY")) {
            throw new GraftException(file, null, "is not a NumPy .npy file (expected the \\x93NUMPY magic)");
        }
        int major = bytes[6];
        if (major < 1 || major > 3) {
            throw new GraftException(file, null, "is .npy format version " + major + " (expected 1, 2 or 3)");
        }
        int start = major == 1 ? 10 : 12;
        if (bytes.length < start) {
            throw new GraftException(file, null, "ends inside its preamble (" + bytes.length + " bytes)");
        }
        int headerLength = major == 1 ? Short.toUnsignedInt(b.getShort(8)) : b.getInt(8);
        if (headerLength < 0 || (long) start + headerLength > bytes.length) {
            throw new GraftException(file, null, "has a header of " + headerLength + " bytes in a file of "
                    + bytes.length);
        }
        String header = new String(bytes, start, headerLength, StandardCharsets.ISO_8859_1);
        String descr = find(DESCR, header, file, "descr");
        if (find(ORDER, header, file, "fortran_order").equals("True")) {
            throw new GraftException(file, null, "is in Fortran order (expected C order: numpy.ascontiguousarray)");
        }
        String dims = find(SHAPE, header, file, "shape").trim();
        long[] shape;
        try {
            shape = dims.isEmpty() ? new long[0] : Arrays.stream(dims.split(",")).map(String::trim)
                    .filter(x -> !x.isEmpty()).mapToLong(Long::parseLong).toArray();
        } catch (NumberFormatException e) {
            throw new GraftException(file, null, "has shape (" + dims + ") (expected whole numbers)");
        }
        if (Arrays.stream(shape).anyMatch(d -> d < 0)) {
            throw new GraftException(file, null, "has shape (" + dims + ") (expected no negative sizes)");
        }
        int width = switch (descr) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            default -> throw new GraftException(file, null, "has element type '" + descr
                    + "' (expected little-endian float32, float64, int32 or int64: <f4, <f8, <i4, <i8)");
        };
        int dataStart = start + headerLength;
        long count = 1;
        for (long d : shape) { // every size checked against the bytes there are before anything is allocated
            count = d == 0 || count == 0 ? 0 : count > (bytes.length - dataStart) / d ? -1 : count * d;
            if (count < 0) {
                throw new GraftException(file, null, "has shape " + Arrays.toString(shape) + ", more values than its "
                        + (bytes.length - dataStart) + " bytes of data hold");
            }
        }
        if ((long) dataStart + count * width != bytes.length) {
            throw new GraftException(file, null, "holds " + (bytes.length - dataStart) + " bytes of data, but shape "
                    + Arrays.toString(shape) + " of '" + descr + "' needs " + count * width);
        }
        b.position(dataStart);
        if (descr.startsWith("<f")) {
            float[] f = new float[(int) count];
            for (int i = 0; i < f.length; i++) {
                f[i] = width == 4 ? b.getFloat() : (float) b.getDouble();
            }
            return new NpyArray(shape, f, null);
        }
        long[] l = new long[(int) count];
        for (int i = 0; i < l.length; i++) {
            l[i] = width == 4 ? b.getInt() : b.getLong();
        }
        return new NpyArray(shape, null, l);
    }

    private static String find(Pattern p, String header, Path file, String key) {
        Matcher m = p.matcher(header);
        if (!m.find()) {
            throw new GraftException(file, null, "has no '" + key + "' in its header: " + header.trim());
        }
        return m.group(1);
    }
}
