// SourceAFIS feature extraction, timed one image at a time for bench/fp_extract_vs_peers.py.
//
// Reads commands from stdin, one per line, and answers each on stdout (flushed), so that another process
// can take turns with it image by image:
//   "warm N DPI PATH"  extract PATH N times, untimed (JIT warm-up); answers "ok"
//   "time DPI PATH"    decode PATH (untimed), then time new FingerprintTemplate(new FingerprintImage(...));
//                      answers "THREAD_MS PROCESS_MS": this thread's CPU time, and the whole JVM's (JIT
//                      compiler and garbage collector threads included)
// Errors are answered as "error MESSAGE". Needs SourceAFIS for Java 3.x on the class path; it is not part
// of the project and is built outside it.
import com.machinezoo.sourceafis.FingerprintImage;
import com.machinezoo.sourceafis.FingerprintImageOptions;
import com.machinezoo.sourceafis.FingerprintTemplate;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;
import javax.imageio.ImageIO;

public class ExtractTimer {
    // 8-bit grey pixels of an image file, row by row (other formats: the mean of red, green and blue)
    static byte[] pixels(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] px = new byte[w * h];
        Raster r = img.getRaster();
        if (r.getNumBands() == 1 && r.getSampleModel().getSampleSize(0) == 8) {
            int[] row = new int[w];
            for (int y = 0; y < h; ++y) {
                r.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; ++x)
                    px[y * w + x] = (byte) row[x];
            }
        } else {
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x) {
                    int p = img.getRGB(x, y);
                    px[y * w + x] = (byte) Math.round(((p & 0xff) + ((p >> 8) & 0xff) + ((p >> 16) & 0xff)) / 3.0);
                }
        }
        return px;
    }

    static BufferedImage read(String path) throws IOException {
        BufferedImage img = ImageIO.read(new File(path));
        if (img == null)
            throw new IOException("cannot decode " + path);
        return img;
    }

    static FingerprintTemplate extract(BufferedImage img, byte[] px, double dpi) {
        return new FingerprintTemplate(new FingerprintImage(img.getWidth(), img.getHeight(), px,
                new FingerprintImageOptions().dpi(dpi)));
    }

    public static void main(String[] args) throws IOException {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        threads.setThreadCpuTimeEnabled(true);
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null;) {
            String[] cmd = line.trim().split(" ", 2);
            try {
                if (cmd[0].equals("warm")) {
                    String[] a = cmd[1].split(" ", 3); // N DPI PATH
                    BufferedImage img = read(a[2]);
                    byte[] px = pixels(img);
                    for (int i = 0; i < Integer.parseInt(a[0]); ++i)
                        extract(img, px, Double.parseDouble(a[1]));
                    System.out.println("ok");
                } else if (cmd[0].equals("time")) {
                    String[] a = cmd[1].split(" ", 2); // DPI PATH
                    BufferedImage img = read(a[1]);
                    byte[] px = pixels(img);
                    long t0 = threads.getCurrentThreadCpuTime(), p0 = os.getProcessCpuTime();
                    extract(img, px, Double.parseDouble(a[0]));
                    long t1 = threads.getCurrentThreadCpuTime(), p1 = os.getProcessCpuTime();
                    System.out.printf(Locale.ROOT, "%.3f %.3f%n", (t1 - t0) / 1e6, (p1 - p0) / 1e6);
                } else {
                    System.out.println("error unknown command " + cmd[0]);
                }
            } catch (Exception e) {
                System.out.println("error " + e);
            }
            System.out.flush();
        }
    }
}
