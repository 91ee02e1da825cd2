// 200,000 holes: the counted output passes its budget (or the time limit).
// want: exception|timeout|memory JSON.stringify: the result would be over
JSON.stringify(new Array(2e5));
