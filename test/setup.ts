// Test-wide setup: function logs are kept out of the test output unless TEST_LOGS=1.
import { setLogSink } from '../shared/log.ts';

if (process.env['TEST_LOGS'] !== '1') setLogSink(() => undefined);

// The AWS SDK warns once per process that its 2027 releases will need Node 22; tests run on Node 20 by design.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
