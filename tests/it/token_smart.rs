// SMART backend services: written next
