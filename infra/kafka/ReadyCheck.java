// Readiness probe used by infra/kafka.sh when kafka-python is not importable
// (for example before the project's Python dependencies are installed).
// Run with the broker's own jars: java -cp 'lib/*' ReadyCheck.java HOST:PORT
// Exit status 0 once a metadata request (describeCluster + listTopics) answers.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class ReadyCheck {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(props)) {
            admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
            admin.listTopics().names().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("not ready: " + e);
            System.exit(1);
        }
    }
}
