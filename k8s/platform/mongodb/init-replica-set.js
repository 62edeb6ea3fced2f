// Initiates replica set rs0 once; a no-op when it is already initiated.
const members = parseInt(process.env.MONGODB_MEMBERS || "3", 10);
try {
  const status = rs.status();
  print(`replica set ${status.set} already initiated with ${status.members.length} members`);
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
  const config = { _id: "rs0", members: [] };
  for (let i = 0; i < members; i++) {
    config.members.push({ _id: i, host: `mongodb-${i}.mongodb:27017`, priority: i === 0 ? 2 : 1 });
  }
  rs.initiate(config);
  print(`replica set rs0 initiated with ${members} members`);
}
