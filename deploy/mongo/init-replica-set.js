// Idempotent single-node replica-set bootstrap for the CDP MongoDB.
//
// Used as the `mongo` service healthcheck in docker-compose.yml:
//   mongosh --quiet --norc /deploy/mongo/init-replica-set.js
//
// * If the replica set is not initiated yet, initiate it (once).
// * Exit 0 only when this node is the writable PRIMARY, so services that
//   `depends_on: mongo: condition: service_healthy` can open transactions /
//   change streams immediately.
//
// The member host must be the name clients use inside the compose network
// (drivers connecting with ?replicaSet=rs0 rediscover members by this name).
const rsName = process.env.MONGO_REPLICA_SET_NAME || 'rs0';
const memberHost = process.env.MONGO_REPLICA_SET_HOST || 'mongo:27017';

function isNotInitialized(err) {
  return (
    err &&
    (err.codeName === 'NotYetInitialized' ||
      err.code === 94 ||
      /no replset config/i.test(String(err.message)))
  );
}

try {
  rs.status();
} catch (err) {
  if (!isNotInitialized(err)) {
    print(`replica set status check failed: ${err.message}`);
    quit(1);
  }
  try {
    rs.initiate({ _id: rsName, members: [{ _id: 0, host: memberHost }] });
    print(`initiated replica set ${rsName} with member ${memberHost}`);
  } catch (initErr) {
    // Another healthcheck run may have initiated it concurrently.
    if (initErr.codeName !== 'AlreadyInitialized' && initErr.code !== 23) {
      print(`rs.initiate failed: ${initErr.message}`);
      quit(1);
    }
  }
}

// Wait (briefly) for the election to finish.
for (let i = 0; i < 20; i++) {
  if (db.hello().isWritablePrimary) {
    quit(0);
  }
  sleep(500);
}
print('replica set initiated but this node is not (yet) PRIMARY');
quit(1);
