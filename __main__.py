"""UnaMentis Cloud: read the stack config, build the Platform, export its outputs."""
import pulumi

from components.config import load_config
from components.platform import Platform, PlatformArgs

config = load_config()  # raises ConfigError (key + fix) before any resource exists
platform = Platform("unamentis", PlatformArgs(config=config))

pulumi.export("profile", config.profile)
pulumi.export("vpc_id", platform.network.vpc_id)
pulumi.export("database_address", platform.database.address)
pulumi.export("jobs_queue_url", platform.queues.jobs.url)
pulumi.export("buckets", {k: b.bucket for k, b in platform.storage.buckets.items()})
pulumi.export("parameters", platform.parameters.names)
pulumi.export("alerts_topic_arn", platform.observability.topic.arn)
if platform.edge is not None:  # Access AUD, tunnel, R2 endpoint and buckets; R2 credentials (secret)
    pulumi.export("edge", platform.edge.exports())
    if platform.edge.r2_token is not None:
        pulumi.export("edge_r2_credentials", platform.edge.secret_exports())
ops_console = platform.ops_console_exports()
if ops_console is not None:  # URL, the image's build env, the console's way to the core
    pulumi.export("ops_console", ops_console)
